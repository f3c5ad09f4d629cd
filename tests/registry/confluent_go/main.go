// confluent_go - Confluent's official Go client (github.com/confluentinc/confluent-kafka-go/v2)
// against twinpipe, run by tests/registry/test_confluent_clients.c after the Python checks:
// the protobuf Serializer auto-registers the built-in schema (the Go client sends .proto text
// printed from the descriptor: no comments) and gets the id of the text tp-ingest registered, frames a ReadingBatch that tp-ingest accepts (202),
// the Deserializer reads it back equal, and a breaking change gets 409. Env as for
// confluent_clients.py. Prints "ok: ..." lines, exits 1 at the first failure.
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rest"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/protobuf"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

func check(cond bool, format string, a ...any) {
	what := fmt.Sprintf(format, a...)
	if !cond {
		fmt.Fprintln(os.Stderr, "FAILED: "+what)
		os.Exit(1)
	}
	fmt.Println("ok: " + what)
}

func must(err error, what string) {
	if err != nil {
		check(false, "%s: %v", what, err)
	}
}

func main() {
	topic := os.Getenv("TP_TOPIC")
	subject := topic + "-value"
	auth := strings.SplitN(os.Getenv("TP_REGISTRY_AUTH"), ":", 2)
	client, err := schemaregistry.NewClient(schemaregistry.NewConfigWithBasicAuthentication(
		os.Getenv("TP_REGISTRY_URL"), auth[0], auth[1]))
	must(err, "client")

	raw, err := os.ReadFile(os.Getenv("TP_FDS"))
	must(err, "read the descriptor set")
	var set descriptorpb.FileDescriptorSet
	must(proto.Unmarshal(raw, &set), "unmarshal the descriptor set")
	files, err := protodesc.NewFiles(&set)
	must(err, "build the files")
	d, err := files.FindDescriptorByName("twinpipe.telemetry.v1.ReadingBatch")
	must(err, "find ReadingBatch")
	batchDesc := d.(protoreflect.MessageDescriptor)
	readingDesc := batchDesc.Fields().ByName("readings").Message()

	batch := dynamicpb.NewMessage(batchDesc)
	list := batch.Mutable(batchDesc.Fields().ByName("readings")).List()
	r := dynamicpb.NewMessage(readingDesc)
	set1 := func(m *dynamicpb.Message, name string, v protoreflect.Value) {
		m.Set(m.Descriptor().Fields().ByName(protoreflect.Name(name)), v)
	}
	set1(r, "device_id", protoreflect.ValueOfString("cf-go-1"))
	set1(r, "sequence", protoreflect.ValueOfUint64(1))
	set1(r, "timestamp_ms", protoreflect.ValueOfInt64(1796000000000))
	set1(r, "speed_kmh", protoreflect.ValueOfFloat64(88.5))
	list.Append(protoreflect.ValueOfMessage(r))

	v1, err := client.GetSchemaMetadata(subject, 1)
	must(err, "version 1")

	ser, err := protobuf.NewSerializer(client, serde.ValueSerde, protobuf.NewSerializerConfig())
	must(err, "serializer")
	data, err := ser.Serialize(topic, batch)
	must(err, "serialize")
	id := int(binary.BigEndian.Uint32(data[1:5]))
	check(data[0] == 0 && id == v1.ID,
		"auto-register of the text printed from the descriptor finds version 1's id %d (got %d)",
		v1.ID, id)
	versions, err := client.GetAllVersions(subject)
	must(err, "versions")
	check(len(versions) == 2, "no new version (%v)", versions)

	resp, err := http.Post(os.Getenv("TP_INGEST_URL")+"/v1/telemetry", "application/x-protobuf",
		bytes.NewReader(data))
	must(err, "post")
	resp.Body.Close()
	check(resp.StatusCode == 202, "tp-ingest accepts the Go serializer's batch (%d)", resp.StatusCode)

	deser, err := protobuf.NewDeserializer(client, serde.ValueSerde, protobuf.NewDeserializerConfig())
	must(err, "deserializer")
	back := dynamicpb.NewMessage(batchDesc)
	must(deser.DeserializeInto(topic, data, back), "deserialize")
	check(proto.Equal(back, batch), "deserialized equal")

	// a breaking change: speed_kmh double -> string
	fdp := protodesc.ToFileDescriptorProto(batchDesc.ParentFile())
	for _, m := range fdp.MessageType {
		for _, f := range m.Field {
			if f.GetName() == "speed_kmh" {
				f.Type = descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
			}
		}
	}
	fdp.Name = proto.String("breaking.proto")
	bad, err := protodesc.NewFile(fdp, nil)
	must(err, "breaking file")
	badBatch := dynamicpb.NewMessage(bad.Messages().ByName("ReadingBatch"))
	_, err = ser.Serialize(topic, badBatch)
	var rerr *rest.Error
	check(errors.As(err, &rerr) && rerr.Code == 409 && strings.Contains(rerr.Message, "speed_kmh"),
		"a breaking change gets 409 naming speed_kmh (%v)", err)
	fmt.Println("all go checks passed")
}
