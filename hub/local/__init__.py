"""The embedded local stack: a real Kafka broker (KRaft) and Apicurio Registry, fetched from
Maven Central and run on the machine's Java, with state under one home directory."""

from hub.local.stack import LocalStack, StackStatus

__all__ = ["LocalStack", "StackStatus"]
