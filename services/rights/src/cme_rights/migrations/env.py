from cme_shared.migrations import run_env
from cme_rights.adapters.tables import metadata

run_env(metadata)
