app-title = RA
nav-generate = Text to image
nav-img2img = Image to image / Inpaint
nav-gallery = Gallery
nav-pnginfo = PNG info
nav-settings = Settings

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
