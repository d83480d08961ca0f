"""The review application: users, roles, the alert workflow, sampling and the audited
service layer that the web UI, the REST API and the CLI share (docs/review.md)."""
