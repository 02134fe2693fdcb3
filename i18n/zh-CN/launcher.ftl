app-title = RA
nav-generate = 生成
daemon-starting = 正在启动图像服务…
daemon-running = 图像服务运行中
daemon-restarting = 图像服务已停止（{ $reason }），{ $seconds } 秒后重新启动…
daemon-stopped = 图像服务已停止
skin-broken = 无法使用皮肤“{ $skin }”，已改用默认皮肤：{ $reason }
