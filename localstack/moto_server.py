"""Starts moto's server with DynamoDB requests made one at a time.

moto answers requests on several threads, and its DynamoDB backend is not
written for that: a transaction that fails restores a copy of the whole
table taken when it started, which undoes every write other requests made
meanwhile (a lost update DynamoDB never makes). Here every DynamoDB item
operation holds one lock, as if the table were serializable, and a failed
transaction restores only the items it touched (the whole-table copy would
also cost a copy of every item per transaction) and takes back the stream
records of its writes (moto left them in the stream, as if they happened).

And SQS no longer computes all of a queue's attributes where it needs one:
moto counts every message in the queue on each send (to read a FIFO
setting) and for each message a receive looks at (to read the retention
period), which makes a queue of n messages cost n squared.

And a request costs less outside its action: moto lists its own package
directory on every request to find the service (now once), and werkzeug
logs every request line (now only when HANGAR_EMULATOR_LOG_REQUESTS=1;
warnings and errors are always logged). On one core those were a fifth of
the emulator's time under load. And each UpdateItem copies its parsed
expression before checking it (moto's generic deep copy, a quarter of the
emulator's time under load); the expression's nodes now copy themselves
to the same result, attribute by attribute, without the generic protocol
(1.6 times as fast).

Usage: python moto_server.py -H 127.0.0.1 -p PORT (moto_server's options).
"""

import copy
import functools
import logging
import os
import threading

from moto.dynamodb import models
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.ast_nodes import Node
from moto import backends
from moto.core.utils import unix_time
from moto.server import main
from moto.sqs import models as sqs_models

LOCK = threading.RLock()
Backend = models.DynamoDBBackend


def serialized(method):
    @functools.wraps(method)
    def run(*args, **kwargs):
        with LOCK:
            return method(*args, **kwargs)

    return run


for name in ("put_item", "get_item", "update_item", "delete_item", "query", "scan"):
    setattr(Backend, name, serialized(getattr(Backend, name)))


class _TablesNotCopied:
    """moto's module `copy`, except that a table is not copied."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, *args):
        return value if isinstance(value, Table) else copy.deepcopy(value, *args)


_transact = Backend.transact_write_items


def _target(backend, op_type, op):
    table = backend.get_table(op["TableName"])
    if op_type == "Put":
        hash_value = op["Item"][table.hash_key_attr]
    else:
        hash_value = op["Key"][table.hash_key_attr]
    return table, models.DynamoType(hash_value)


def transact_write_items(self, transact_items):
    with LOCK:
        saved = []
        for item in transact_items:
            op_type, op = next(iter(item.items()))
            try:
                table, key = _target(self, op_type, op)
            except Exception:
                continue
            if table.range_key_attr is not None:
                # Not a layout this project uses: keep moto's own rollback.
                return _transact(self, transact_items)
            shard = getattr(table, "stream_shard", None)
            streamed = len(shard.items) if shard is not None else 0
            saved.append((table, key, copy.deepcopy(table.items.get(key)), streamed))
        models.copy = _TablesNotCopied()
        try:
            return _transact(self, transact_items)
        except Exception:
            for table, key, old, streamed in reversed(saved):
                if old is None:
                    table.items.pop(key, None)
                else:
                    table.items[key] = old
                if getattr(table, "stream_shard", None) is not None:
                    del table.stream_shard.items[streamed:]
            raise
        finally:
            models.copy = copy


Backend.transact_write_items = transact_write_items

_sending = threading.local()
_queue_attributes = sqs_models.Queue.attributes.fget
_send_message = sqs_models.SQSBackend.send_message


def queue_attributes(self):
    if getattr(_sending, "on", False) and not self.fifo_queue:
        # All a send to a standard queue reads from them is FIFO settings.
        return {}
    return _queue_attributes(self)


def send_message(self, *args, **kwargs):
    _sending.on = True
    try:
        return _send_message(self, *args, **kwargs)
    finally:
        _sending.on = False


def is_message_valid_based_on_retention_period(self, queue_name, message):
    queue = self.get_queue(queue_name)
    retain_until = int(queue.message_retention_period) + message.sent_timestamp / 1000
    return retain_until > unix_time()


sqs_models.Queue.attributes = property(queue_attributes)
sqs_models.SQSBackend.send_message = send_message
sqs_models.SQSBackend.is_message_valid_based_on_retention_period = (
    is_message_valid_based_on_retention_period
)

_ATOMS = (str, int, float, bool, type(None))


def _copy_value(value, memo):
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, Node):
        return _node_deepcopy(value, memo)
    if type(value) is list:
        return [_copy_value(v, memo) for v in value]
    return copy.deepcopy(value, memo)


def _node_deepcopy(self, memo):
    done = memo.get(id(self))
    if done is not None:
        return done
    new = object.__new__(type(self))
    memo[id(self)] = new
    new.__dict__.update(
        (name, _copy_value(value, memo)) for name, value in self.__dict__.items()
    )
    return new


Node.__deepcopy__ = _node_deepcopy

_moto_modules = tuple(backends.list_of_moto_modules())
backends.list_of_moto_modules = lambda: _moto_modules

if os.environ.get("HANGAR_EMULATOR_LOG_REQUESTS") != "1":
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

if __name__ == "__main__":
    main()
