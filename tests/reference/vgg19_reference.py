# Independent reference for tests/train.rs: VGG19 weights read with h5py and feature maps
# computed with numpy (zero "same" padding, ReLU, 2x2 max pool, Caffe preprocessing).
#   python3 -m venv env && env/bin/pip install h5py numpy && env/bin/python vgg19_reference.py
import h5py, numpy as np
f = h5py.File(__import__('os').path.expanduser('~/.cache/faststyle/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5'), 'r')
def W(name): return f[name][name+'_W_1:0'][()], f[name][name+'_b_1:0'][()]
w, b = W('block1_conv1')
print('W shape', w.shape)
for idx in [(0,0,0,0),(1,2,0,5),(2,1,2,63),(0,2,1,17)]:
    print('W', idx, repr(float(w[idx])))
for i in [0, 7, 63]:
    print('b', i, repr(float(b[i])))
H = Wd = 16
img = np.zeros((H, Wd, 3), np.float32)
for y in range(H):
    for x in range(Wd):
        for c in range(3):
            img[y, x, c] = (x * 7 + y * 13 + c * 29) % 256
bgr = img[:, :, ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
def conv(x, w, b):
    h, wd, cin = x.shape
    p = np.pad(x, ((1,1),(1,1),(0,0)))
    out = np.zeros((h, wd, w.shape[3]), np.float64)
    for kh in range(3):
        for kw in range(3):
            out += np.einsum('hwi,io->hwo', p[kh:kh+h, kw:kw+wd, :].astype(np.float64), w[kh, kw].astype(np.float64))
    return np.maximum(out + b, 0)
a1 = conv(bgr, *W('block1_conv1'))
a2 = conv(a1, *W('block1_conv2'))
pool = a2.reshape(H//2, 2, Wd//2, 2, 64).max(axis=(1, 3))
b21 = conv(pool, *W('block2_conv1'))
for name, t in [('block1_conv1', a1), ('block2_conv1', b21)]:
    print(name, 'shape', t.shape, 'sum', repr(float(t.sum())))
    for (y, x, c) in [(0,0,0),(5,9,3),(15,15,63),(7,3,31),(2,12,10)]:
        if y < t.shape[0] and x < t.shape[1]:
            print(name, (c, y, x), repr(float(t[y, x, c])))
    if name == 'block2_conv1':
        for (y, x, c) in [(0,0,0),(3,5,100),(7,7,127),(4,1,64)]:
            print(name, (c, y, x), repr(float(t[y, x, c])))
print('---')
for name, t in [('block1_conv1', a1), ('block2_conv1', b21)]:
    nz = np.argwhere(t > 1.0)
    picks = nz[np.linspace(0, len(nz) - 1, 6).astype(int)]
    for (y, x, c) in picks:
        print(f'("{name}", {c}, {y}, {x}, {float(t[y, x, c])!r}),')
