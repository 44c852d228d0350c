"""Serves Swift WSGI apps (pairs of CONFIG SECTION arguments) from one eventlet process, for the test S3 server (S3Server.cs).

Swift's own run_wsgi starts one process per server and loads each app twice; this loads each once and binds its port only once it
is loaded, so a port that accepts connections is ready. It follows swift.common.wsgi.run_server for workers = 0 and uses Swift
2.30's helpers (_initrp, loadapp, get_socket, RestrictedGreenPool, SwiftHttpProtocol).
"""
import os
import sys
import time

os.environ.setdefault('EVENTLET_NO_GREENDNS', 'yes')
from swift.common import utils  # noqa: E402

utils.eventlet_monkey_patch()
import eventlet  # noqa: E402
import eventlet.debug  # noqa: E402
from eventlet import wsgi as eventlet_wsgi  # noqa: E402
from swift.common.http_protocol import SwiftHttpProtocol  # noqa: E402
from swift.common.wsgi import RestrictedGreenPool, _initrp, get_socket, loadapp  # noqa: E402

os.environ['TZ'] = 'UTC+0'
time.tzset()
eventlet.debug.hub_exceptions(False)
servers = []
arguments = sys.argv[1:]
for config_path, section in zip(arguments[0::2], arguments[1::2]):
    config, logger, log_name = _initrp(config_path, section, verbose=True)
    utils.FALLOCATE_RESERVE, utils.FALLOCATE_IS_PERCENT = utils.config_fallocate_value(config.get('fallocate_reserve', '1%'))
    app = loadapp(config_path, global_conf={'log_name': log_name})
    sock = get_socket(config)
    servers.append(eventlet.spawn(
        eventlet_wsgi.server, sock, app, utils.NullLogger(),
        custom_pool=RestrictedGreenPool(size=int(config.get('max_clients', '1024'))),
        protocol=SwiftHttpProtocol,
        socket_timeout=float(config.get('client_timeout') or 60),
        capitalize_response_headers=False))  # s3api's clients expect "ETag", not "Etag"
for server in servers:
    server.wait()
