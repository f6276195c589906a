"""A stand-in for the course's Data API (contract: `/work/shared/data-api.md`).

`python -m infra.data_api` serves it on BIND_HOST:DATA_API_PORT; `make up` runs it as
the `data-api` service. Its settings:

    DATA_API_BATCH_PERIOD  seconds before a call moves a group to its next batch (300)
    COVERTYPE_CSV          a CSV in the course's 13-column format; unset: synthetic data
    DATA_API_SEED          seed of the synthetic data (6); the sampling is unseeded, as in the real API
    DATA_API_ROWS          size of the synthetic dataset (581012, as the real one)
    STATE_DIR              its batch clock lives in $STATE_DIR/data-api/state.json
"""
