def handle(event, context):
    return {"statusCode": 200, "body": {"hello": context.hostname, "received": len(event.body)}}
