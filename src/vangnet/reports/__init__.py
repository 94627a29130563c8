"""Reports built from confirmed cases: NCMEC CyberTipline, Project VIC VICS, case documents,
and the flow that builds, submits and records them (`service`)."""
