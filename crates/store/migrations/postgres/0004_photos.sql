-- Photos of matters (issue 4). The files live in the object store (a local folder by
-- default); this table holds what they are, who sent them and where they are kept.
-- The original keeps its EXIF data (the place it was taken) and is shown only to staff;
-- everyone else gets a re-encoded copy without metadata, and a thumbnail.
CREATE TABLE matter_photos (
    community_id UUID NOT NULL,
    id UUID NOT NULL,
    matter_id UUID NOT NULL,
    uploaded_by UUID REFERENCES accounts (id),
    content_type TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    had_location BOOLEAN NOT NULL,
    original_key TEXT NOT NULL,
    display_key TEXT NOT NULL,
    thumb_key TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, matter_id) REFERENCES matters (community_id, id)
);
CREATE INDEX matter_photos_by_matter ON matter_photos (community_id, matter_id, id);
