"""The checks a runbook's steps name, one module per group; `triage.checklist.registry`
maps step ids to them and `triage.checklist.run` runs them. Each check reads the context
(snapshot, flow, explanation, prober, known-good set) and returns one StepResult. Static
checks are pure; `dns` and `probe` also ask the prober."""
