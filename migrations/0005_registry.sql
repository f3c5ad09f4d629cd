-- 0005_registry: tp-registry's store, a Confluent Schema Registry subset for
-- PROTOBUF schemas. Several registry replicas share these tables: schema ids
-- come from a sequence, the same schema (same fingerprint) always keeps its
-- first id (unique constraint + INSERT .. ON CONFLICT DO NOTHING), and
-- registrations under one subject are serialized by locking its
-- registry_subjects row (SELECT .. FOR UPDATE), so versions are gap-free and a
-- compatibility check always sees the versions it is checked against.

CREATE SEQUENCE registry_schema_ids AS integer;

-- One row per distinct schema (type + text + references), shared by subjects.
CREATE TABLE registry_schemas (
    id             integer     PRIMARY KEY DEFAULT nextval('registry_schema_ids'),
    fingerprint    bytea       NOT NULL UNIQUE,   -- sha256 of type, text and references
    schema_type    text        NOT NULL DEFAULT 'PROTOBUF' CHECK (schema_type = 'PROTOBUF'),
    schema_text    text        NOT NULL,          -- the .proto source as the client sent it
    refs           jsonb       NOT NULL DEFAULT '[]',  -- [{"name","subject","version"}], in order
    descriptor_set bytea       NOT NULL,          -- FileDescriptorSet from protoc --include_imports
    created_at     timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE registry_schema_ids OWNED BY registry_schemas.id;

-- One row per subject ever registered: the lock that serializes registrations.
CREATE TABLE registry_subjects (
    subject    text        PRIMARY KEY CHECK (subject <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Versions of a subject; DELETE .../versions/{v} only marks them deleted
-- (soft). A schema is live at most once per subject.
CREATE TABLE registry_versions (
    subject    text        NOT NULL REFERENCES registry_subjects (subject),
    version    integer     NOT NULL CHECK (version > 0),
    schema_id  integer     NOT NULL REFERENCES registry_schemas (id),
    deleted    boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, version)
);
CREATE UNIQUE INDEX registry_versions_live ON registry_versions (subject, schema_id)
    WHERE NOT deleted;
CREATE INDEX registry_versions_schema ON registry_versions (schema_id);

-- Compatibility levels: scope '' is the global default, any other scope a subject.
CREATE TABLE registry_config (
    scope         text PRIMARY KEY,
    compatibility text NOT NULL CHECK (compatibility IN ('BACKWARD', 'BACKWARD_TRANSITIVE',
        'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE'))
);
INSERT INTO registry_config (scope, compatibility) VALUES ('', 'BACKWARD');
