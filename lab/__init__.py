"""The vpce-proxy lab: real stand-ins for ECR and S3 on loopback, the real proxy binary, real clients.

Why a package: both `scripts/lab` (the acceptance-story table) and the pytest end-to-end suite need the same
stand-ins started the same way, and every process they start must be stopped by PID.
"""
