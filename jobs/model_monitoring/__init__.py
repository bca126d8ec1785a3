"""Monitoring of the champion model: stability, discrimination and calibration over time.

* :mod:`jobs.model_monitoring.main` - read, compute and write ``model_monitoring``;
* :mod:`jobs.model_monitoring.metrics` - PSI, AUC, Jeffreys and grade-level metrics (pure);
* :mod:`jobs.model_monitoring.reference` - the training-time reference distributions;
* :mod:`jobs.model_monitoring.validation` - the periodic validation report.
"""
