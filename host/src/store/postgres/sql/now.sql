-- The database's clock (µs since the epoch): every host of a cluster agrees on it.
SELECT wasmpool_now()
