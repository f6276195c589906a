"""The local OpenFaaS runtime: our gateway, and each function of stack.yml as a process.

    stackfile  reads stack.yml (with faas-cli's ${VAR:-default} substitution)
    settings   the gateway's settings, from the environment
    app        the gateway's HTTP API (the routes faas-cli and the connectors call)
    asyncq     /async-function: an accepted call, and the retry policy of com.openfaas.retry.*
    natsq      /async-function on NATS JetStream: the stream, its limits, the workers and callbacks
    runtime    how each function process is launched and probed under supervisord
"""
