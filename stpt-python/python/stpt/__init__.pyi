from stpt._native import Delivery as Delivery
from stpt._native import Plan as Plan
from stpt._native import Reporter as Reporter
from stpt._native import default_spool_dir as default_spool_dir
from stpt._native import replay as replay
from stpt._native import shorten as shorten

STATUSES: tuple
