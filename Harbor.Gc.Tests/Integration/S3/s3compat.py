"""WSGI filter in front of Swift 2.30's s3api: adds the Content-MD5 of a DeleteObjects (POST ?delete) body when it is missing.

Current AWS SDKs (AWSSDK.S3 4.x, boto3 1.36 and later) send DeleteObjects with an x-amz-checksum-crc32 header and no Content-MD5;
s3api 2.30 predates those checksums and answers "Missing required header ... Content-MD5". Content-MD5 is not among the signed
headers, so adding it here leaves the SigV4 signature valid. Loaded by the proxy pipeline of the test S3 server (S3Server.cs).
"""
import base64
import hashlib
import io


class S3Compat(object):
    def __init__(self, app):
        self.app = app

    def __call__(self, env, start_response):
        query = [p.split('=', 1)[0] for p in env.get('QUERY_STRING', '').split('&')]
        if env.get('REQUEST_METHOD') == 'POST' and 'delete' in query and 'HTTP_CONTENT_MD5' not in env:
            length = env.get('CONTENT_LENGTH')
            body = env['wsgi.input'].read(int(length)) if length else env['wsgi.input'].read()
            env['wsgi.input'] = io.BytesIO(body)
            env['CONTENT_LENGTH'] = str(len(body))
            env.pop('HTTP_TRANSFER_ENCODING', None)
            env['HTTP_CONTENT_MD5'] = base64.b64encode(hashlib.md5(body).digest()).decode('ascii')
        return self.app(env, start_response)


def filter_factory(global_conf, **local_conf):
    return S3Compat
