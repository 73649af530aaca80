"""Pure domain logic: the ledger engine, MRP netting and costing. Never imports Faust or Kafka."""
