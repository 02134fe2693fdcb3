app-title = RA
nav-generate = Generate
daemon-starting = Starting the image service…
daemon-running = Image service running
daemon-restarting = The image service stopped ({ $reason }). Restarting in { $seconds ->
    [one] { $seconds } second
   *[other] { $seconds } seconds
}…
daemon-stopped = Image service stopped
skin-broken = The skin “{ $skin }” could not be used, so the default is shown: { $reason }
