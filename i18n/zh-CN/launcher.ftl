app-title = RA
nav-generate = 文生图
nav-img2img = 图生图 / 局部重绘
nav-gallery = 图库
nav-pnginfo = 图片信息
nav-settings = 设置

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
