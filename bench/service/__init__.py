"""The service benchmark (issue 7): Millstream's worker beside the ceiling and its peers, on one broker.

``python -m bench.service`` pre-loads a simulated factory, drains it with each arm (raw consumer, decoding
consumer, a Faust agent doing nothing, the worker without planning, the worker, the worker with the
pure-Python kernel), measures latency under open-loop load, memory and restore, and writes
``bench/RESULTS-service.md`` with plots.  Modules:

* ``spec``: what is measured (sizes, seed, partitions) and where the pre-loaded files live;
* ``preload``: the simulated events as ready-to-send messages (one event each, or envelopes), loaded
  into the input topics of a topic prefix;
* ``raw``: arms A and B (confluent-kafka loops); ``faust_noop``: arm C (its own process);
* ``worker``: arms D, E, F (``millstream worker`` processes observed through ``/metrics``), memory, restore;
* ``latency``: the open-loop generator and the output reader;
* ``report`` and ``plots``: the markdown tables, the capacity model and the PNGs;
* ``memory``: a kept run's state restored under ``tracemalloc``: where a worker's memory goes.
"""
