"""The S3 front: S3's REST-XML protocol as a WSGI application, on the objects of :mod:`objects`.

Addressing is path-style (``/<bucket>/<key>``, what botocore sends to an ``endpoint_url``) or
virtual-host style on ``<bucket>.localhost``. Each request is verified first (SigV4 in the
``Authorization`` header, or a presigned URL's query string) with the backend's one access key,
then mapped to an operation by its method, whether it names a bucket and a key, and its
sub-resource query parameters, and refused (403 AccessDenied) if the backend's IAM policy does not
allow its IAM actions (``s3:PutObject``...), both read from one table (:mod:`operations`). Errors are S3's XML ``<Error>`` documents (a HEAD gets the status
alone), so botocore raises the ``ClientError`` codes it raises against S3.

Bodies are read only once the request is authenticated, and bounded (:mod:`bodies`): objects are
streamed to disk (at most 5 GiB), plain or ``aws-chunked`` (botocore's streaming uploads, a checksum
in a trailer), and any ``x-amz-checksum-*`` or ``Content-MD5`` they carry is checked.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from werkzeug.http import http_date
from werkzeug.wrappers import Request, Response

from airflow_hpt.local.http.auth import S3_SERVICE, AuthError, SigV4Verifier
from airflow_hpt.local.iam.actions import object_arn
from airflow_hpt.local.iam.policy import Authorizer
from airflow_hpt.local.s3.bodies import read_document, receive_object
from airflow_hpt.local.s3.chunks import iter_range
from airflow_hpt.local.s3.errors import S3Error
from airflow_hpt.local.s3.objects import ObjectInfo, ObjectStore
from airflow_hpt.local.s3.operations import OPERATIONS, S3Operation, s3_operation
from airflow_hpt.local.s3.wire import (
    addressed,
    checksum_headers_of,
    content_type_of,
    copy_source_of,
    decoded_token,
    error_response,
    iso_time,
    parsed_xml,
    user_metadata_of,
    xml_child,
    xml_element,
    xml_response,
)

log = logging.getLogger(__name__)

AUTH_STATUS = {
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "InvalidRequest": 400,
    "XAmzContentSHA256Mismatch": 400,
    "InvalidArgument": 400,
    "NotImplemented": 501,
}
# sub-resources the front does not serve: answered NotImplemented instead of being taken for a
# plain GET/PUT of the bucket or object
UNSUPPORTED = (
    "acl",
    "tagging",
    "versioning",
    "policy",
    "cors",
    "lifecycle",
    "website",
    "versions",
    "encryption",
    "logging",
    "notification",
    "replication",
    "object-lock",
    "retention",
    "legal-hold",
    "torrent",
    "restore",
    "select",
    "attributes",
    "uploads-list",
    "accelerate",
    "requestPayment",
    "ownershipControls",
    "publicAccessBlock",
    "analytics",
    "metrics",
    "inventory",
    "intelligent-tiering",
)
DEFAULT_MAX_KEYS = 1000


class S3Front:
    """The WSGI application serving S3 on the backend's store."""

    def __init__(
        self, store: ObjectStore, verifier: SigV4Verifier, region: str, authorizer: Authorizer
    ) -> None:
        self.store = store
        self.verifier = verifier
        self.region = region
        self.authorizer = authorizer
        self._handlers: dict[str, Callable[[Request, str, str], Response]] = {
            "ListBuckets": self._list_buckets,
            "GetBucketLocation": self._bucket_location,
            "ListObjects": self._list_objects,
            "HeadBucket": self._head_bucket,
            "CreateBucket": self._create_bucket,
            "DeleteBucket": self._delete_bucket,
            "DeleteObjects": self._delete_objects,
            "UploadPart": self._upload_part,
            "CopyObject": self._copy_object,
            "PutObject": self._put_object,
            "GetObject": self._get_object,
            "HeadObject": self._get_object,
            "AbortMultipartUpload": self._abort_upload,
            "DeleteObject": self._delete_object,
            "CreateMultipartUpload": self._create_upload,
            "CompleteMultipartUpload": self._complete_upload,
        }
        unhandled = {operation.name for operation in OPERATIONS} ^ self._handlers.keys()
        if unhandled:
            raise RuntimeError(f"S3 operations without a handler, or handlers of none: {sorted(unhandled)}")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        return self._respond(request)(environ, start_response)

    def _respond(self, request: Request) -> Response:
        request_id = uuid.uuid4().hex.upper()[:16]
        try:
            self._authenticate(request)
        except AuthError as refused:
            error = S3Error(refused.s3_code, refused.message, AUTH_STATUS.get(refused.s3_code, 403))
            return error_response(error, request, request_id)
        try:
            response = self._dispatch(request)
        except S3Error as error:
            return error_response(error, request, request_id)
        except Exception:  # a bug must reach the client as a 500, not kill the connection
            log.exception("S3 %s %s failed", request.method, request.path)
            return error_response(
                S3Error("InternalError", "We encountered an internal error. Please try again.", 500),
                request,
                request_id,
            )
        response.headers["x-amz-request-id"] = request_id
        return response

    def _authenticate(self, request: Request) -> None:
        # the URL as the client addressed it: the signature covers the Host header and the raw path
        raw_path = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
        url = f"{request.scheme}://{request.host}{raw_path}"
        if "AWSAccessKeyId" in request.args and "Authorization" not in request.headers:
            self.verifier.verify_presigned_v2(request.method, url, request.headers)
        elif "X-Amz-Credential" in request.args:
            self.verifier.verify_presigned(request.method, url, request.headers)
        else:
            # the signature covers x-amz-content-sha256, not the body: checked before a byte is read,
            # the body against that header as it is read (bodies)
            self.verifier.verify(request.method, url, request.headers, None, S3_SERVICE)

    def _dispatch(self, request: Request) -> Response:
        bucket, key = addressed(request)
        args = request.args
        unsupported = [name for name in UNSUPPORTED if name in args]
        if unsupported or (not key and "uploads" in args):
            name = unsupported[0] if unsupported else "uploads"
            raise S3Error(
                "NotImplemented", f"The local backend does not serve the {name!r} sub-resource.", 501
            )
        operation = s3_operation(request.method, bucket, key, args, "x-amz-copy-source" in request.headers)
        if operation is None:
            raise S3Error(
                "NotImplemented", f"The local backend does not serve {request.method} {request.path}.", 501
            )
        self._authorize(request, operation, bucket, key)
        return self._handlers[operation.name](request, bucket, key)

    def _authorize(self, request: Request, operation: S3Operation, bucket: str, key: str) -> None:
        """Refuse, as S3 does (403 AccessDenied), a request the policy does not allow."""
        copy_source = copy_source_of(request) if operation.copies else None
        context = operation.context(request.args)
        for action, resources in operation.needs(bucket, key, copy_source):
            refusal = self.authorizer.refusal(action, resources, context)
            if refusal is not None:
                raise S3Error("AccessDenied", refusal, 403)

    # --- buckets -------------------------------------------------------------------------------

    def _list_buckets(self, request: Request, bucket: str, key: str) -> Response:
        root = xml_element("ListAllMyBucketsResult")
        owner = xml_child(root, "Owner")
        xml_child(owner, "ID", "local")
        xml_child(owner, "DisplayName", "local")
        buckets = xml_child(root, "Buckets")
        for name, created in self.store.list_buckets():
            entry = xml_child(buckets, "Bucket")
            xml_child(entry, "Name", name)
            xml_child(entry, "CreationDate", iso_time(created))
        return xml_response(root)

    def _create_bucket(self, request: Request, bucket: str, key: str) -> Response:
        region = ""
        body = read_document(request)
        if body.strip():
            constraint = parsed_xml(body).find("LocationConstraint")
            region = (constraint.text or "") if constraint is not None else ""
        self.store.create_bucket(bucket, region)
        return Response(status=200, headers={"Location": f"/{bucket}"})

    def _head_bucket(self, request: Request, bucket: str, key: str) -> Response:
        region = self.store.bucket_region(bucket) or self.region
        return Response(status=200, headers={"x-amz-bucket-region": region})

    def _delete_bucket(self, request: Request, bucket: str, key: str) -> Response:
        self.store.delete_bucket(bucket)
        return Response(status=204)

    def _bucket_location(self, request: Request, bucket: str, key: str) -> Response:
        root = xml_element("LocationConstraint")
        root.text = self.store.bucket_region(bucket)  # none for us-east-1, as S3
        return xml_response(root)

    def _list_objects(self, request: Request, bucket: str, key: str) -> Response:
        args = request.args
        v2 = args.get("list-type") == "2"
        prefix = args.get("prefix", "")
        delimiter = args.get("delimiter", "")
        encode: Callable[[str], str] = (
            (lambda value: quote(value, safe="/")) if args.get("encoding-type") == "url" else str
        )
        try:
            max_keys = max(0, min(int(args.get("max-keys", DEFAULT_MAX_KEYS)), DEFAULT_MAX_KEYS))
        except ValueError:
            raise S3Error(
                "InvalidArgument",
                "Provided max-keys not an integer or within integer range",
                400,
                ArgumentName="max-keys",
            ) from None
        token = args.get("continuation-token")
        if v2:
            after = decoded_token(token) if token is not None else args.get("start-after", "")
        else:
            after = args.get("marker", "")
        contents: list[ObjectInfo] = []
        prefixes: list[str] = []
        truncated = False
        last = ""
        for key in self.store.keys(bucket, prefix):
            if key.encode() <= after.encode():
                continue
            common = None
            if delimiter and delimiter in key[len(prefix) :]:
                common = key[: key.index(delimiter, len(prefix)) + len(delimiter)]
                if common.encode() <= after.encode() or (prefixes and prefixes[-1] == common):
                    continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            if common is not None:
                prefixes.append(common)
                last = common
            else:
                contents.append(self.store.info(bucket, key))
                last = key
        root = xml_element("ListBucketResult")
        xml_child(root, "Name", bucket)
        xml_child(root, "Prefix", encode(prefix))
        if delimiter:
            xml_child(root, "Delimiter", encode(delimiter))
        xml_child(root, "MaxKeys", str(max_keys))
        if args.get("encoding-type") == "url":
            xml_child(root, "EncodingType", "url")
        xml_child(root, "IsTruncated", "true" if truncated else "false")
        if v2:
            xml_child(root, "KeyCount", str(len(contents) + len(prefixes)))
            if token is not None:
                xml_child(root, "ContinuationToken", token)
            if "start-after" in args:
                xml_child(root, "StartAfter", encode(args["start-after"]))
            if truncated:
                xml_child(root, "NextContinuationToken", base64.urlsafe_b64encode(last.encode()).decode())
        else:
            xml_child(root, "Marker", encode(after))
            if truncated and delimiter:
                xml_child(root, "NextMarker", encode(last))
        for info in contents:
            entry = xml_child(root, "Contents")
            xml_child(entry, "Key", encode(info.key))
            xml_child(entry, "LastModified", iso_time(info.last_modified))
            xml_child(entry, "ETag", info.etag)
            xml_child(entry, "Size", str(info.size))
            xml_child(entry, "StorageClass", "STANDARD")
        for common in prefixes:
            xml_child(xml_child(root, "CommonPrefixes"), "Prefix", encode(common))
        return xml_response(root)

    def _delete_objects(self, request: Request, bucket: str, key: str) -> Response:
        self.store.require_bucket(bucket)
        document = parsed_xml(read_document(request))
        quiet = (document.findtext("Quiet") or "").lower() == "true"
        root = xml_element("DeleteResult")
        for entry in document.findall("Object"):
            key = entry.findtext("Key") or ""
            try:
                # each key on its own: S3 deletes the allowed ones and reports the others
                if self.authorizer.refusal("s3:DeleteObject", (object_arn(bucket, key),)) is not None:
                    raise S3Error("AccessDenied", "Access Denied", 403)
                self.store.delete(bucket, key)
            except S3Error as error:
                failed = xml_child(root, "Error")
                xml_child(failed, "Key", key)
                xml_child(failed, "Code", error.code)
                xml_child(failed, "Message", error.message)
                continue
            if not quiet:
                xml_child(xml_child(root, "Deleted"), "Key", key)
        return xml_response(root)

    def _delete_object(self, request: Request, bucket: str, key: str) -> Response:
        self.store.delete(bucket, key)
        return Response(status=204)

    def _abort_upload(self, request: Request, bucket: str, key: str) -> Response:
        self.store.abort_upload(bucket, key, request.args["uploadId"])
        return Response(status=204)

    # --- objects -------------------------------------------------------------------------------

    def _put_object(self, request: Request, bucket: str, key: str) -> Response:
        self.store.check_writable(bucket, key)
        received = receive_object(request, self.store.receiving)
        info = self.store.put_file(
            bucket, key, received.path, received.md5, content_type_of(request), user_metadata_of(request)
        )
        return Response(status=200, headers={"ETag": info.etag, **checksum_headers_of(request)})

    def _copy_object(self, request: Request, bucket: str, key: str) -> Response:
        source_bucket, source_key = copy_source_of(request)
        replace = request.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE"
        if (source_bucket, source_key) == (bucket, key) and not replace:
            raise S3Error(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an "
                "object to itself without changing the object's metadata, storage class, website "
                "redirect location or encryption attributes.",
                400,
            )
        info = self.store.copy(
            (source_bucket, source_key),
            bucket,
            key,
            (content_type_of(request), user_metadata_of(request)) if replace else None,
        )
        root = xml_element("CopyObjectResult")
        xml_child(root, "LastModified", iso_time(info.last_modified))
        xml_child(root, "ETag", info.etag)
        return xml_response(root)

    def _get_object(self, request: Request, bucket: str, key: str) -> Response:
        info, path = self.store.head(bucket, key)
        headers = {
            "ETag": info.etag,
            "Last-Modified": http_date(info.last_modified),
            "Content-Type": info.content_type,
            "Accept-Ranges": "bytes",
            **{f"x-amz-meta-{name}": value for name, value in info.metadata.items()},
        }
        start, stop, status = 0, info.size, 200
        requested = request.range
        if requested is not None and len(requested.ranges) == 1:
            bounds = requested.range_for_length(info.size)
            if bounds is None:
                raise S3Error(
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    416,
                    RangeRequested=request.headers.get("Range", ""),
                    ActualObjectSize=str(info.size),
                )
            start, stop, status = bounds[0], bounds[1], 206
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{info.size}"
        headers["Content-Length"] = str(stop - start)
        body: Iterable[bytes] = [] if request.method == "HEAD" else iter_range(path, start, stop)
        return Response(body, status=status, headers=headers, direct_passthrough=True)

    # --- multipart uploads ---------------------------------------------------------------------

    def _create_upload(self, request: Request, bucket: str, key: str) -> Response:
        upload_id = self.store.create_upload(bucket, key, content_type_of(request), user_metadata_of(request))
        root = xml_element("InitiateMultipartUploadResult")
        xml_child(root, "Bucket", bucket)
        xml_child(root, "Key", key)
        xml_child(root, "UploadId", upload_id)
        return xml_response(root)

    def _upload_part(self, request: Request, bucket: str, key: str) -> Response:
        upload_id = request.args["uploadId"]
        if "x-amz-copy-source" in request.headers:
            raise S3Error("NotImplemented", "The local backend does not serve UploadPartCopy.", 501)
        try:
            number = int(request.args.get("partNumber", ""))
        except ValueError:
            raise S3Error(
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive",
                400,
                ArgumentName="partNumber",
            ) from None
        self.store.check_writable(bucket, key, upload_id)
        received = receive_object(request, self.store.receiving)
        etag = self.store.upload_part(bucket, key, upload_id, number, received.path, received.md5)
        return Response(status=200, headers={"ETag": etag, **checksum_headers_of(request)})

    def _complete_upload(self, request: Request, bucket: str, key: str) -> Response:
        upload_id = request.args["uploadId"]
        document = parsed_xml(read_document(request))
        parts = []
        for part in document.findall("Part"):
            try:
                parts.append((int(part.findtext("PartNumber") or ""), part.findtext("ETag") or ""))
            except ValueError:
                raise S3Error(
                    "MalformedXML",
                    "The XML you provided was not well-formed or did not validate "
                    "against our published schema",
                    400,
                ) from None
        info = self.store.complete_upload(bucket, key, upload_id, parts)
        root = xml_element("CompleteMultipartUploadResult")
        xml_child(root, "Location", f"{request.host_url}{quote(bucket)}/{quote(key)}")
        xml_child(root, "Bucket", bucket)
        xml_child(root, "Key", key)
        xml_child(root, "ETag", info.etag)
        return xml_response(root)
