"""Portfolio risk under the government risk compensation fund (docs/portfolio.md).

* :mod:`jobs.portfolio.config` - the ``portfolio:`` configuration (LGD table, CCF, fund, loss order);
* :mod:`jobs.portfolio.fund` - the fund's balance on D from the fund statements (the profile's as fallback);
* :mod:`jobs.portfolio.risk` - per-loan PD, LGD, EAD, EL and the bank/fund split (pure);
* :mod:`jobs.portfolio.summary` - breakdowns, totals, fund adequacy and concentration (pure);
* :mod:`jobs.portfolio.main` - ``run(as_of)``: read, compute and write the three gold tables.
"""

from jobs.portfolio.config import PortfolioConfig
from jobs.portfolio.main import PortfolioTables, portfolio_tables, run

__all__ = ["PortfolioConfig", "PortfolioTables", "portfolio_tables", "run"]
