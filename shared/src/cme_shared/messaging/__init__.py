"""The messaging kit: transactional outbox, idempotent inbox, reliable consumers and dead letters.

Every service uses these pieces and none other, so each reliability rule lives in one place.
"""

from . import codecs

codecs.install()  # before any record batch is read: bounded decoders instead of aiokafka's (codecs.py)
