"""Who polices: agencies (budget, staffing, jurisdiction), their crews and how crews patrol."""
