"""Monthly scoring of the enterprises with the champion model (:mod:`jobs.scoring.main`)."""
