"""Stand-ins for the systems around Flagstream in the local default: upstream traffic and reviewers."""
