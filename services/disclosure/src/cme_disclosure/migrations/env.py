from cme_shared.migrations import run_env
from cme_disclosure.adapters.tables import metadata

run_env(metadata)
