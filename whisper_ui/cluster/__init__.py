"""Several machines, one queue: the jobs run on a Ray cluster (`serve --cluster ADDRESS`).

Imported only when a cluster is configured, so the default single process never loads
Ray. `connect` joins the cluster (token auth on, a clear error naming an unreachable
address); `agent` is the actor placed on every node, owning that node's own ModelPool;
`pool` is the head's view of all agents behind the dispatcher's lease interface;
`runner` runs one job on an agent and streams its events back.
"""
