#!/bin/sh
# One-shot job (compose service minio-init), safe to rerun: the riskpipe bucket (lakehouse under
# lakehouse/, MLflow artifacts under mlflow/) and a service account limited to that bucket, so
# riskpipe and MLflow never use MinIO's root credentials.
set -eu

: "${MINIO_ROOT_USER:?MINIO_ROOT_USER is not set}"
: "${MINIO_ROOT_PASSWORD:?MINIO_ROOT_PASSWORD is not set}"
: "${RISKPIPE_S3_BUCKET:?RISKPIPE_S3_BUCKET is not set}"
: "${RISKPIPE_S3_ACCESS_KEY:?RISKPIPE_S3_ACCESS_KEY is not set}"
: "${RISKPIPE_S3_SECRET_KEY:?RISKPIPE_S3_SECRET_KEY is not set}"

mc alias set store http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "store/$RISKPIPE_S3_BUCKET"

policy=/tmp/riskpipe-bucket-policy.json
cat > "$policy" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:*"],
      "Resource": ["arn:aws:s3:::$RISKPIPE_S3_BUCKET", "arn:aws:s3:::$RISKPIPE_S3_BUCKET/*"]
    }
  ]
}
JSON
mc admin policy create store riskpipe-bucket "$policy"
mc admin user add store "$RISKPIPE_S3_ACCESS_KEY" "$RISKPIPE_S3_SECRET_KEY"
# attaching an already attached policy is an error on a rerun; check the user instead
mc admin policy attach store riskpipe-bucket --user "$RISKPIPE_S3_ACCESS_KEY" 2>/dev/null \
    || mc admin user info store "$RISKPIPE_S3_ACCESS_KEY" | grep -q riskpipe-bucket
echo "bucket $RISKPIPE_S3_BUCKET ready for $RISKPIPE_S3_ACCESS_KEY"
