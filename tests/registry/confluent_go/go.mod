module confluent_go

go 1.22

require (
	github.com/confluentinc/confluent-kafka-go/v2 v2.12.0
	google.golang.org/protobuf v1.33.0
)

require (
	github.com/bufbuild/protocompile v0.8.0 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jhump/protoreflect v1.15.6 // indirect
	golang.org/x/oauth2 v0.18.0 // indirect
	golang.org/x/sync v0.8.0 // indirect
	google.golang.org/appengine v1.6.8 // indirect
	google.golang.org/genproto v0.0.0-20240325203815-454cdb8f5daa // indirect
)
