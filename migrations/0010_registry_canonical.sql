-- 0010_registry_canonical: one id for one schema whatever form it was sent in
-- (.proto text, or a base64 serialized FileDescriptorProto as Confluent's
-- Python and Go serializers send it), and the serialized form for
-- ?format=serialized. schema_file is the schema's own file of the compiled
-- descriptor set in canonical form (registry/serialized.h: named
-- schema.proto, default json_name dropped, no source info); canonical is
-- sha256(schema_file || '\n' || refs). tp-registry fills both for the rows
-- stored before this migration when it starts.

-- serialized: registered as a descriptor (schema_text is then the base64 as sent).
ALTER TABLE registry_schemas ADD COLUMN schema_file bytea, ADD COLUMN canonical bytea,
    ADD COLUMN serialized boolean NOT NULL DEFAULT false;
CREATE INDEX registry_schemas_canonical ON registry_schemas (canonical);

-- READWRITE / READONLY (IMPORT is accepted and kept, and behaves as READWRITE)
-- per scope: '' is the global mode, any other scope a subject.
CREATE TABLE registry_modes (
    scope text PRIMARY KEY,
    mode  text NOT NULL CHECK (mode IN ('READWRITE', 'READONLY', 'IMPORT'))
);
