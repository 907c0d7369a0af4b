"""The edge: gateway (scan, filter, batch, outbox, publish) and hub (store engine over MQTT).

Pure pieces (topics, codec, privacy filter, batcher, stream ordering) import nothing from the
outside world; the I/O lives in ``outbox`` and ``journal`` (sqlite3), ``bus`` (aiomqtt),
``sources`` and ``bleak_source`` (radio), ``resolver`` (files, HTTP), ``cli`` (``proximity
gateway``) and ``demo`` (``proximity demo``: Mosquitto, hub and gateway processes).
"""
