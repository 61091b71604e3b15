"""A real S3-speaking server for tests: moto's server mode on a free port of this machine."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from shared.filestore import S3Settings

ALLOW_S3 = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    settings: S3Settings  # a real IAM user's key, allowed every S3 action

    def client(self) -> Any:
        """A plain boto3 client with the same key, to look behind the store's back."""
        key, secret = self.settings.access_key_id, self.settings.secret_access_key
        assert key is not None
        assert secret is not None
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=key.get_secret_value(),
            aws_secret_access_key=secret.get_secret_value(),
        )

    def bucket(self) -> str:
        """A new empty bucket."""
        name = f"evidence-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


@contextmanager
def running_s3() -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        iam = boto3.session.Session().client(
            "iam",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        # moto keeps its accounts per process, not per server: a user of its own each time.
        user = f"flowers-gateway-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=ALLOW_S3)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        yield S3Server(
            url,
            S3Settings(
                endpoint_url=url,
                region="us-east-1",
                access_key_id=key["AccessKeyId"],
                secret_access_key=key["SecretAccessKey"],
            ),
        )
    finally:
        server.stop()
