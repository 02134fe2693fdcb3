app-title = RA
nav-generate = 文生图
nav-img2img = 图生图 / 局部重绘
nav-gallery = 图库
nav-pnginfo = 图片信息
nav-settings = 设置
nav-models = 模型库
nav-packs = 模型包
nav-downloads = 下载
nav-updates = 更新

daemon-starting = 正在启动图像服务…
daemon-running = 图像服务运行中
daemon-restarting = 图像服务已停止（{ $reason }），{ $seconds } 秒后重新启动…
daemon-stopped = 图像服务已停止
skin-broken = 无法使用皮肤“{ $skin }”，已改用默认皮肤：{ $reason }

prompt = 提示词
prompt-placeholder = 描述你想要的画面，例如：黄昏时的灯塔，油画风格
negative-prompt = 反向提示词
negative-placeholder = 不想出现的内容，例如：模糊、低质量
model = 模型
model-none = 没有可用的模型
sampler = 采样方法
schedule-type = 调度类型
steps = 迭代步数
cfg-scale = 提示词引导系数
seed = 随机种子
seed-random = 随机
seed-random-tip = 每次生成使用新的随机种子（-1）
seed-reuse = 沿用上次
seed-reuse-tip = 使用上一张图片的种子
size = 尺寸
width-height = 宽 × 高
batch-count = 生成数量
advanced = 高级：A1111 种子设置
rng = 随机数源
rng-tip = GPU 与多数 A1111 图片（N 卡生成）一致；CPU 对应 A1111 的 CPU 设置
clip-skip = 跳过 CLIP 层
variation-seed = 差异种子
hires-fix = 高清修复
hires-strength = 高清修复重绘幅度
generate = 生成
cancel = 取消
progress-step = 第 { $step } / { $total } 步，还需约 { $eta } 秒
progress-queued = 已提交，等待开始…
progress-cancelled = 已取消
progress-done = 完成
result-empty = 生成的图片会显示在这里
save-as = 另存为…
copy = 复制
send-to-img2img = 发送到图生图
saved-to = 已保存到 { $path }
save-failed = 无法保存到 { $path }：{ $detail }
copied = 图片已复制到剪贴板

denoising-strength = 重绘幅度
mask-blur = 蒙版模糊
fill-mode = 蒙版区域初始内容
fill-fill = 填充
fill-original = 原图
fill-latent-noise = 潜空间噪声
fill-latent-nothing = 潜空间置零
load-image = 打开图片…
brush-size = 画笔大小
eraser = 橡皮擦
clear-mask = 清除蒙版
invert-mask = 反转蒙版
drop-image = 把图片拖到这里，或点击“打开图片”。在图片上涂抹即可画出要重绘的区域。
image-files = 图片

gallery-empty = 还没有生成过图片
reuse-parameters = 沿用参数
open-folder = 打开文件夹
delete = 删除
refresh = 刷新
delete-confirm-title = 删除图片
delete-confirm = 删除这次生成的所有图片？此操作无法撤销。

pnginfo-drop = 把 PNG 图片拖到这里（RA 或 A1111 生成的都可以）
open-png = 打开 PNG…
send-to-generate = 发送到文生图
pnginfo-none = 这张图片没有保存生成参数。
pnginfo-not-png = 这不是可以读取的 PNG 图片：{ $detail }
pnginfo-unreadable = 无法读取生成参数：{ $detail }

settings-language = 语言
settings-skin = 皮肤
settings-keep-running = 关闭窗口后
settings-keep-running-hint = 让图像服务继续运行（排队中的任务会继续完成）
settings-model-folders = 模型文件夹
settings-add-folder = 添加文件夹…（可选 A1111 或 ComfyUI 的安装目录）
settings-output-folder = 输出文件夹
settings-output-default = 默认：RA 数据目录下的 outputs
settings-choose = 选择…
settings-port = 端口
settings-remote = 远程访问
settings-remote-hint = 允许其他设备通过网络使用（需要访问令牌）
settings-token = 访问令牌（至少 12 个字符）
settings-save = 保存
settings-saved = 设置已保存
settings-language-unknown = 不支持的语言“{ $language }”
settings-port-invalid = 端口 { $port } 不可用，请使用 1024 到 65535 之间的端口
settings-token-required = 开启远程访问需要设置至少 { $min } 个字符的访问令牌
settings-folder-missing = 找不到文件夹 { $path }
settings-save-failed = 无法保存设置到 { $path }：{ $detail }
settings-broken = 设置文件 { $path } 无法读取，已使用默认设置（{ $reason }）。保存设置后会覆盖它。
folder-has-no-models = { $path } 里没有找到模型。请选择 A1111 或 ComfyUI 的安装目录、它们的 models 文件夹，或存放 .safetensors 模型的文件夹。
folder-line = { $kind ->
    [ra] RA 模型文件夹
    [a1111] A1111
    [comfy_ui] ComfyUI
   *[checkpoints] 模型文件夹
}：{ $path }（{ $count } 个模型）

welcome-title = 欢迎使用 RA
welcome-model = RA 用“模型”来画图。模型是一个几 GB 大小的文件（通常以 .safetensors 结尾），决定了画面的风格。RA 不会自动下载任何东西：你可以使用已有的模型，也可以把下载好的模型放进模型文件夹。
welcome-found = 找到的模型文件夹：
welcome-none = 还没有找到任何模型。请把模型文件（.safetensors）放到 { $path }，或者在设置中添加你已有的 A1111 或 ComfyUI 文件夹。
welcome-settings = 打开设置
welcome-start = 开始使用

form-prompt-empty = 请先写下提示词。
form-invalid = { $field ->
    [steps] 迭代步数
    [cfg_scale] 提示词引导系数
    [count] 生成数量
    [seed] 随机种子
    [denoising_strength] 重绘幅度
    [mask] 蒙版设置
   *[other] { $field }
}需要在 { $min } 到 { $max } 之间。
form-size-invalid = { $field ->
    [width] 宽度
   *[height] 高度
}需要是 8 的倍数，并在 64 到 { $max } 之间。
form-mask-without-image = 画蒙版之前请先打开一张图片。
image-unreadable = 无法读取图片 { $path }：{ $detail }
image-too-big = 图片 { $path } 太大（上限 { $mib } MB）。
job-failed = 生成失败：{ $detail }
job-interrupted = 图像服务在生成时停止了，请重新生成。

error-daemon-unreachable = 图像服务还没有准备好：{ $detail }
error-invalid-field = 参数有误：{ $detail }
error-invalid-json = 请求格式有误：{ $detail }
error-image-too-large = 输入图片太大：{ $detail }
error-queue-full = 排队的任务太多了，请稍后再试。（{ $detail }）
error-no-such-job = 找不到这个任务，可能已被删除。（{ $detail }）
error-not-cancellable = 这个任务已经结束，无法取消。（{ $detail }）
error-job-active = 任务还在进行中，请先取消它。（{ $detail }）
error-no-such-model = 找不到这个模型。（{ $detail }）
error-no-model-installed = 还没有安装模型。{ $detail }
error-internal = 图像服务内部出错：{ $detail }

models-search = 搜索名称、触发词、分类、备注
models-kind-all = 全部类型
model-kind = { $kind ->
    [checkpoint] 大模型
    [lora] LoRA
    [vae] VAE
    [embedding] 嵌入
    [upscaler] 放大模型
    [controlnet] ControlNet
    [depth] 深度模型
   *[other] 未知类型
}
models-category-all = 全部分类
models-tier-all = 全部等级
model-tier = { $tier ->
    [official] 官方
    [recommended] 推荐
    [community] 社区
   *[other] 非模型包
}
models-rating-any = 不限评分
models-rating-min = { $stars } 星及以上
models-sort = { $sort ->
    [date] 最新在前
    [size] 最大在前
    [rating] 评分最高在前
   *[name] 按名称
}
models-empty = 这里还没有模型。可以在“模型包”页安装模型包，或在设置里添加你的模型文件夹。
models-skipped = 模型文件夹里有 { $count } 个文件不是模型，已跳过：{ $files }
models-detail-empty = 选择一个模型查看详情。
models-architecture = 架构
models-size = 大小
models-file = 文件
models-hashes = SHA-256 / AutoV2
models-license = 许可协议
models-source = 来源
models-categories = 分类
models-trigger-words = 触发词
models-packs = 所属模型包
models-metadata = 文件中的元数据
models-rating = 我的评分
models-note = 我的备注
models-note-save = 保存备注
models-delete-title = 删除模型
models-delete-confirm = 从磁盘上删除“{ $name }”？删除后无法恢复。
models-deleted = 已删除“{ $name }”。
models-rating-invalid = 评分是 1 到 5 星。

packs-source-placeholder = 模型包清单（.toml）的网址或文件
packs-show = 查看
packs-open-file = 打开文件…
packs-manifest-files = 模型包清单
packs-installed-title = 已安装的模型包
packs-available-title = 可以安装的模型包
packs-none-installed = 还没有安装模型包。
packs-none-available = 粘贴管理员或社区发布的模型包网址，或打开一个清单文件。
packs-version = 版本 { $version }
packs-models = { $count } 个模型
packs-plan = 需要下载：{ $download } · 磁盘剩余：{ $free }
packs-plan-done = 这个模型包的模型都已经在本机了。
packs-no-space = 磁盘剩余空间不够这次下载。
packs-install = 安装
packs-update = 更新到 { $version }
packs-installed-badge = 已安装
packs-present = 已在本机
packs-remove = 移除
packs-remove-title = 移除模型包
packs-remove-confirm = 移除模型包“{ $pack }”？其中的模型会被删除，除非另一个模型包也包含它，或你选择了保留。
packs-removed = 已移除模型包 { $pack }，删除了 { $count } 个模型。
packs-installed = 已安装 { $pack }：下载并校验了 { $downloaded } 个模型。
packs-source-empty = 请输入模型包清单的网址或文件。
packs-no-models-folder = 没有可安装到的模型文件夹，请在设置里添加一个。

downloads-empty = 没有正在进行的下载。可以在“模型包”页安装模型包。
downloads-total = { $done } / { $total } · { $speed }/秒
downloads-eta = { $minutes ->
    [0] 剩余不到 1 分钟
   *[other] 约剩 { $minutes } 分钟
}
download-state = { $state ->
    [queued] 等待中
    [running] 下载中
    [paused] 已暂停
    [done] 已校验
    [failed] 失败
   *[cancelled] 已取消
}
downloads-pause = 暂停
downloads-resume = 继续
downloads-cancel = 取消
downloads-retry = 重试
downloads-clear = 清除已完成
downloads-already-running = 模型包 { $pack } 已经在下载了。

updates-running = 当前运行的是 RA { $version }。
updates-installed-at = 安装位置：{ $path }
updates-url = 更新地址
updates-url-placeholder = 已签名的更新清单地址
updates-check = 检查更新
updates-working = 处理中…
updates-idle = 还没有检查过。
updates-up-to-date = RA { $version } 已是最新版本。
updates-available = 有新版本 RA { $version }。
updates-notes = 更新说明
updates-install = 安装 { $version }
updates-installed = 已安装 RA { $version }，并保留了 { $previous } 以便回退。重启 RA 后生效。
updates-rolled-back = 已回退到 RA { $version }。重启 RA 后生效。
updates-rollback = 回退到上一版本
updates-signed = RA 只安装用其发布密钥签名的更新。每个文件都会在改动前校验；新版本无法启动时会立即撤销。
update-from-build = 这份 RA 运行于 { $path }，不是安装版，因此不会在这里更新。请安装 RA 的正式版本以获取更新。
update-url-empty = 请先填写更新地址。
update-unreachable = 无法读取 { $url } 的更新：{ $problem }。请检查地址和网络连接。
update-wrong-key = 这个更新没有用 RA 的发布密钥签名，已拒绝。请检查更新地址。
update-tampered = 这个更新与签名不符（传输中被修改或损坏），已拒绝。请稍后再试。
update-manifest-invalid = 更新已签名但内容无效（{ $problem }），没有做任何改动。
update-expired = 这个更新已于 { $expires } 过期：服务器可能没有更新，或者本机日期不对。
update-replayed = 这个更新（RA { $version }）比本机已接受过的（RA { $accepted }）更旧，已拒绝。
update-downgrade = 更新提供的 RA { $offered } 比已安装的 RA { $installed } 更旧；RA 不会通过更新降级。
update-rolled-back-before = RA { $version } 之前在这里安装过又被回退，因此不会再次安装。
update-artefact-bad = 下载的 { $name } 与签名的更新清单不符，没有做任何改动。请重试。
update-failed-to-start = RA { $version } 无法启动（{ $problem }），已恢复 RA { $restored }。
update-no-previous = 没有可以回退的上一版本。
update-not-installed = { $root } 中没有安装 RA。

lib-needs-space = 这个模型包需要在 { $dir } 占用 { $needed }，但只剩 { $free }。请清理一些空间后再安装。
lib-manifest-unreachable = 无法读取 { $origin } 的模型包：{ $problem }。请检查地址和网络连接。
lib-bad-pack = { $origin } 不是有效的模型包：{ $problem }
lib-name-taken = { $path } 已存在，但不是模型包所描述的“{ $model }”。请移走或改名该文件后再安装。
lib-pack-incomplete = 模型包 { $pack } 还没有装好：{ $failures }。再次安装会从中断处继续。
lib-no-such-pack = 没有 id 为 { $id } 的已安装模型包。
lib-disk-full = 下载 { $path } 时磁盘满了。清理一些空间后继续下载，已下载的部分不会丢失。
library-failed = 模型库出错：{ $detail }
