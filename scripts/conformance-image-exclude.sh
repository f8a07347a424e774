# Image tests excluded from `bash scripts/conformance.sh image`, each with why
# (docs/CONFORMANCE.md lists them); sourced by scripts/conformance.sh. They are
# features of Glance that kumo's image API does not have; Tempest has no
# switch that skips them.
I='image\.v2\.'
IMAGE_EXCLUDE=(
  "${I}admin\.test_image_task\."                            # tasks (/v2/tasks)
  "${I}(admin\.)?test_images_metadefs"                      # metadata definitions (/v2/metadefs)
  "${I}test_images_member\.ImagesMemberTest\.test_get_image_members?_schema"  # JSON schemas (/v2/schemas)
  # interoperable image import (/v2/info/import, /v2/images/{id}/import) and multiple stores
  "${I}admin\.test_images\.(ImportCopyImagesTest|MultiStoresImagesTest)"
  "${I}test_images\.(ImportImagesTest|MultiStoresImportImagesTest)"
  "${I}test_images_negative\.ImportImagesNegativeTest"
)
