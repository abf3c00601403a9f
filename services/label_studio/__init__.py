"""Label Studio connector: review tasks into Label Studio projects, annotations back as judgments."""
