"""Sink connectors: a unit's inbox ``lf.inbox.<unit>`` delivered into its own case system.

The counterpart of the source kinds: where a source turns an agency export into events, a
sink turns the events routed to a unit into what its system reads (an HTTP call, a file,
a table row), and the system's acknowledgement into a ``DeliveryAcknowledged`` receipt on
the case. See ``docs/sinks.md``.
"""
