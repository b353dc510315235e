"""The CME platform's shared package: cross-service contracts and the messaging kit."""
