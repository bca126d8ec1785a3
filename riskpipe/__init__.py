"""riskpipe: SME credit-risk monitoring pipeline."""
