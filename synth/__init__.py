"""The factory's front: CLI, records, repository intake, bug injection, problem statements."""
