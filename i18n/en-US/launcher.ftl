app-title = RA
nav-generate = Text to image
nav-img2img = Image to image / Inpaint
nav-gallery = Gallery
nav-pnginfo = PNG info
nav-settings = Settings
nav-models = Models
nav-packs = Model packs
nav-downloads = Downloads
nav-updates = Updates

daemon-starting = Starting the image service…
daemon-running = Image service running
daemon-restarting = The image service stopped ({ $reason }). Restarting in { $seconds ->
    [one] { $seconds } second
   *[other] { $seconds } seconds
}…
daemon-stopped = Image service stopped
skin-broken = The skin “{ $skin }” could not be used, so the default is shown: { $reason }

prompt = Prompt
prompt-placeholder = Describe the picture, e.g. a lighthouse at dusk, oil painting
negative-prompt = Negative prompt
negative-placeholder = What to keep out, e.g. blurry, low quality
model = Model
model-none = No model available
sampler = Sampling method
schedule-type = Schedule type
steps = Sampling steps
cfg-scale = CFG scale
seed = Seed
seed-random = Random
seed-random-tip = Use a new random seed each time (-1)
seed-reuse = Reuse last
seed-reuse-tip = Use the seed of the last image
size = Size
width-height = Width × height
batch-count = Batch count
advanced = Advanced: A1111 seed settings
rng = Noise source
rng-tip = GPU gives what most A1111 images (made on NVIDIA cards) give; CPU matches A1111's CPU setting
clip-skip = Clip skip
variation-seed = Variation seed
hires-fix = Hires fix
hires-strength = Hires denoising
generate = Generate
cancel = Cancel
progress-step = Step { $step } of { $total }, about { $eta ->
    [one] { $eta } second
   *[other] { $eta } seconds
} left
progress-queued = Submitted, waiting to start…
progress-cancelled = Cancelled
progress-done = Done
result-empty = Your images will appear here
save-as = Save as…
copy = Copy
send-to-img2img = Send to img2img
saved-to = Saved to { $path }
save-failed = Could not save to { $path }: { $detail }
copied = Image copied to the clipboard

denoising-strength = Denoising strength
mask-blur = Mask blur
fill-mode = Masked content
fill-fill = Fill
fill-original = Original
fill-latent-noise = Latent noise
fill-latent-nothing = Latent nothing
load-image = Open image…
brush-size = Brush size
eraser = Eraser
clear-mask = Clear mask
invert-mask = Invert mask
drop-image = Drop an image here, or click “Open image”. Paint over it to mark the area to redraw.
image-files = Images

gallery-empty = No images yet
reuse-parameters = Reuse parameters
open-folder = Open folder
delete = Delete
refresh = Refresh
delete-confirm-title = Delete images
delete-confirm = Delete every image of this generation? This cannot be undone.

pnginfo-drop = Drop a PNG here (made by RA or A1111)
open-png = Open PNG…
send-to-generate = Send to text to image
pnginfo-none = This image has no generation parameters stored.
pnginfo-not-png = This is not a PNG image RA can read: { $detail }
pnginfo-unreadable = The generation parameters cannot be read: { $detail }

settings-language = Language
settings-skin = Skin
settings-keep-running = When the window closes
settings-keep-running-hint = Keep the image service running (queued jobs still finish)
settings-model-folders = Model folders
settings-add-folder = Add folder… (an A1111 or ComfyUI install works)
settings-output-folder = Output folder
settings-output-default = Default: outputs in RA's data folder
settings-choose = Choose…
settings-port = Port
settings-remote = Remote access
settings-remote-hint = Let other devices use RA over the network (needs an access token)
settings-token = Access token (at least 12 characters)
settings-save = Save
settings-saved = Settings saved
settings-language-unknown = Unsupported language “{ $language }”
settings-port-invalid = Port { $port } cannot be used; choose one between 1024 and 65535
settings-token-required = Remote access needs an access token of at least { $min } characters
settings-folder-missing = The folder { $path } does not exist
settings-save-failed = Could not save the settings to { $path }: { $detail }
settings-broken = The settings file { $path } could not be read, so the defaults are used ({ $reason }). Saving the settings replaces it.
folder-has-no-models = No models found in { $path }. Choose an A1111 or ComfyUI install, its models folder, or a folder of .safetensors models.
folder-line = { $kind ->
    [ra] RA models folder
    [a1111] A1111
    [comfy_ui] ComfyUI
   *[checkpoints] Models folder
}: { $path } ({ $count ->
    [one] { $count } model
   *[other] { $count } models
})

welcome-title = Welcome to RA
welcome-model = RA draws with a “model”: a file of a few GB (usually ending in .safetensors) that decides the style of the pictures. RA downloads nothing by itself: use the models you already have, or put a downloaded model into a models folder.
welcome-found = Model folders found:
welcome-none = No model found yet. Put a model file (.safetensors) into { $path }, or add your existing A1111 or ComfyUI folder in Settings.
welcome-settings = Open settings
welcome-start = Get started

form-prompt-empty = Write a prompt first.
form-invalid = { $field ->
    [steps] Sampling steps
    [cfg_scale] CFG scale
    [count] Batch count
    [seed] Seed
    [denoising_strength] Denoising strength
    [mask] Mask settings
   *[other] { $field }
} must be between { $min } and { $max }.
form-size-invalid = { $field ->
    [width] Width
   *[height] Height
} must be a multiple of 8 between 64 and { $max }.
form-mask-without-image = Open an image before painting a mask.
image-unreadable = Cannot read the image { $path }: { $detail }
image-too-big = The image { $path } is too large (the limit is { $mib } MB).
job-failed = Generation failed: { $detail }
job-interrupted = The image service stopped during generation; generate again.

error-daemon-unreachable = The image service is not ready: { $detail }
error-invalid-field = A setting is not valid: { $detail }
error-invalid-json = The request is malformed: { $detail }
error-image-too-large = The input image is too large: { $detail }
error-queue-full = Too many jobs are waiting; try again shortly. ({ $detail })
error-no-such-job = This job no longer exists. ({ $detail })
error-not-cancellable = This job has already ended. ({ $detail })
error-job-active = The job is still running; cancel it first. ({ $detail })
error-no-such-model = This model cannot be found. ({ $detail })
error-no-model-installed = No model is installed yet. { $detail }
error-internal = The image service failed: { $detail }

models-search = Search names, trigger words, categories, notes
models-kind-all = All kinds
model-kind = { $kind ->
    [checkpoint] Checkpoint
    [lora] LoRA
    [vae] VAE
    [embedding] Embedding
    [upscaler] Upscaler
    [controlnet] ControlNet
    [depth] Depth
   *[other] Unknown kind
}
models-category-all = All categories
models-tier-all = All tiers
model-tier = { $tier ->
    [official] Official
    [recommended] Recommended
    [community] Community
   *[other] Not from a pack
}
models-rating-any = Any rating
models-rating-min = { $stars }★ and up
models-sort = { $sort ->
    [date] Newest first
    [size] Largest first
    [rating] Best rated first
   *[name] By name
}
models-empty = No models here. Install a model pack on the Packs page, or add your model folder in Settings.
models-skipped = { $count ->
    [one] One file in the model folders is not a model and was skipped
   *[other] { $count } files in the model folders are not models and were skipped
}: { $files }
models-detail-empty = Select a model to see its details.
models-architecture = Architecture
models-size = Size
models-file = File
models-hashes = SHA-256 / AutoV2
models-license = License
models-source = Source
models-categories = Categories
models-trigger-words = Trigger words
models-packs = From packs
models-metadata = Metadata in the file
models-rating = Your rating
models-note = Your note
models-note-save = Save note
models-delete-title = Delete model
models-delete-confirm = Delete “{ $name }” from the disk? This cannot be undone.
models-deleted = Deleted “{ $name }”.
models-rating-invalid = A rating is 1 to 5 stars.

packs-source-placeholder = Address or file of a model pack manifest (.toml)
packs-show = Show
packs-open-file = Open file…
packs-manifest-files = Model pack manifests
packs-installed-title = Installed packs
packs-available-title = Packs you can install
packs-none-installed = No model pack installed yet.
packs-none-available = Paste the address of a model pack that your admin or community published, or open a manifest file.
packs-version = Version { $version }
packs-models = { $count ->
    [one] 1 model
   *[other] { $count } models
}
packs-plan = To download: { $download } · free on this disk: { $free }
packs-plan-done = Every model of this pack is already here.
packs-no-space = Not enough free space on this disk for the download.
packs-install = Install
packs-update = Update to { $version }
packs-installed-badge = Installed
packs-present = already here
packs-remove = Remove
packs-remove-title = Remove model pack
packs-remove-confirm = Remove the pack “{ $pack }”? Its models are deleted unless another pack lists them or you chose to keep them.
packs-removed = Removed the pack { $pack }; { $count ->
    [one] 1 model was deleted
   *[other] { $count } models were deleted
}.
packs-installed = Installed { $pack }: { $downloaded ->
    [one] 1 model downloaded and verified
   *[other] { $downloaded } models downloaded and verified
}.
packs-source-empty = Enter the address or file of a model pack manifest.
packs-no-models-folder = There is no models folder to install into; add one in Settings.

downloads-empty = Nothing is downloading. Install a model pack on the Packs page.
downloads-total = { $done } of { $total } · { $speed }/s
downloads-eta = { $minutes ->
    [0] less than a minute left
    [one] about 1 minute left
   *[other] about { $minutes } minutes left
}
download-state = { $state ->
    [queued] Waiting
    [running] Downloading
    [paused] Paused
    [done] Verified
    [failed] Failed
   *[cancelled] Cancelled
}
downloads-pause = Pause
downloads-resume = Resume
downloads-cancel = Cancel
downloads-retry = Try again
downloads-clear = Clear finished
downloads-already-running = The pack { $pack } is already downloading.

updates-running = You are running RA { $version }.
updates-installed-at = Installed in { $path }
updates-url = Update address
updates-url-placeholder = Address of the signed update manifest
updates-check = Check for updates
updates-working = Working…
updates-idle = Not checked yet.
updates-up-to-date = RA { $version } is the newest version.
updates-available = RA { $version } is available.
updates-notes = Release notes
updates-install = Install { $version }
updates-installed = RA { $version } is installed; { $previous } is kept to go back to. Restart RA to use it.
updates-rolled-back = Back to RA { $version }. Restart RA to use it.
updates-rollback = Go back to the previous version
updates-signed = RA installs only updates signed with its release key. Every file is checked before anything changes, and a version that does not start is undone at once.
update-from-build = This copy of RA runs from { $path }, not from an installation, so it is not updated here. Install a release of RA to get updates.
update-url-empty = Enter the update address first.
update-unreachable = Cannot read the update at { $url }: { $problem }. Check the address and your connection.
update-wrong-key = This update was not signed with RA's release key, so it was refused. Check the update address.
update-tampered = This update does not match its signature (it was changed or damaged on the way), so it was refused. Try again later.
update-manifest-invalid = The update is signed but not valid ({ $problem }); nothing was changed.
update-expired = This update expired on { $expires }: the server may be out of date, or this computer's date is wrong.
update-replayed = This update (RA { $version }) is older than one already accepted here (RA { $accepted }), so it was refused.
update-downgrade = The update offers RA { $offered }, which is older than the installed RA { $installed }; RA does not go back through updates.
update-rolled-back-before = RA { $version } was installed here before and then rolled back, so it is not installed again.
update-artefact-bad = The downloaded { $name } does not match the signed update; nothing was changed. Try again.
update-failed-to-start = RA { $version } did not start ({ $problem }), so RA { $restored } was put back.
update-no-previous = There is no previous version to go back to.
update-not-installed = No RA version is installed in { $root }.

lib-needs-space = The pack needs { $needed } in { $dir } but only { $free } is free. Free some space, then install again.
lib-manifest-unreachable = Cannot read the model pack at { $origin }: { $problem }. Check the address and your connection.
lib-bad-pack = { $origin } is not a valid model pack: { $problem }
lib-name-taken = { $path } already exists and is not the model “{ $model }” that the pack describes. Move or rename that file, then install again.
lib-pack-incomplete = The pack { $pack } is not installed yet: { $failures }. Install it again to continue where it stopped.
lib-no-such-pack = No installed pack has the id { $id }.
lib-disk-full = The disk filled up while downloading { $path }. Free some space and resume: nothing downloaded so far is lost.
library-failed = The model library failed: { $detail }
