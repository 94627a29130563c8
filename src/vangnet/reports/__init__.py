"""Reports built from confirmed cases: NCMEC CyberTipline, Project VIC VICS, case documents."""
