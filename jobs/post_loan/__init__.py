"""Post-loan monitoring: early warnings, the watch list and the five-category loan classification.

* :mod:`jobs.post_loan.main` - read scores and silver, write the three gold tables;
* :mod:`jobs.post_loan.early_warnings` - the warning catalogue (conf/early_warnings.yaml) evaluated;
* :mod:`jobs.post_loan.watch_list`, :mod:`jobs.post_loan.loan_classification`, :mod:`jobs.post_loan.loan_state`;
* :mod:`jobs.post_loan.warning_evaluation` - how well the warnings anticipated defaults.
"""
