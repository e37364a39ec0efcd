"""Tracing a communication through every carrier in its chain (Budapest Art. 30, G8 Action 6).

Node-free parts: `ipdata` (dated RIR / ip2asn snapshots, batch lookups) and `email` (Received-header chains).
Node parts: `resolve` (an address to its network, State, point of contact and retention), and the trace model
and service (observations, hops, requests drafted from hops, answers that become new hops).
"""
