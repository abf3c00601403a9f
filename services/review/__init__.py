"""Review: turns reviewers' judgments of review tasks into resolved judgments for the datasets."""
