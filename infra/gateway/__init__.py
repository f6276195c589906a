"""The local OpenFaaS runtime: our gateway, and each function of stack.yml as processes.

    stackfile  reads stack.yml (with faas-cli's ${VAR:-default} substitution)
    settings   the gateway's settings, from the environment
    app        the gateway: calls to functions through their replicas
    routes     the route table (faas-provider's serve.go) and the instrumentation around every handler
    handlers   one handler per route
    types      faas-provider's request and status types, parsed and checked
    provider   deploy, remove, scale, secrets: the functions as deployed
    state      what deploy, remove and scale changed, kept in the state directory
    replicas   each replica a supervisord program with its own port; readiness and choice
    logs       /system/logs from each replica's log file
    metrics    /metrics with OpenFaaS's gateway metric names (prometheus-client)
    asyncq     /async-function: an accepted call, and the retry policy of com.openfaas.retry.*
    natsq      /async-function on NATS JetStream: the stream, its limits, the workers and callbacks
    runtime    how each replica is launched and probed under supervisord
"""
