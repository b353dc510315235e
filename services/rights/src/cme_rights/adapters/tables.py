"""Rights's tables (the service's own come with its issue; the kit's outbox and inbox are here from the start)."""

from sqlalchemy import MetaData

from cme_shared.messaging.tables import KitTables

metadata = MetaData()
kit = KitTables(metadata)
