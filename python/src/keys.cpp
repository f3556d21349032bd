// keys.cpp: twincache._native.encode_key(value) -> bytes. Walks a Python value and feeds the
// core's key_builder (docs/keys.md), so the native module keys unhashable arguments by content
// with the core's encoder (pandas objects through the list twincache._keys.pandas_parts makes).
// It accepts exactly what python/twincache/_keys.py accepts, in the same order of type checks,
// and words its errors the same way; tests/python/test_native_keys.py holds both to the shared
// vectors byte for byte, tests/python/test_keys_pandas.py to the pandas layout.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "objects.hpp"
#include "table.hpp"
#include "twincache/key_builder.hpp"

namespace twincache::python {
namespace {

constexpr const char* keyable_types =
    "(keyable: None, bool, int, float, str, bytes, bytearray, memoryview, list, tuple, dict, set, "
    "frozenset, numpy arrays and scalars, pandas Series, DataFrame and Index)";

// 'int' for builtins, 'module.Qualname' otherwise (as _keys._type_name).
std::string type_name(PyObject* v) {
  PyTypeObject* t = Py_TYPE(v);
  PyObject* qualname = PyObject_GetAttrString(reinterpret_cast<PyObject*>(t), "__qualname__");
  PyObject* module = PyObject_GetAttrString(reinterpret_cast<PyObject*>(t), "__module__");
  std::string out;
  const char* q = qualname ? PyUnicode_AsUTF8(qualname) : nullptr;
  const char* m = module && PyUnicode_Check(module) ? PyUnicode_AsUTF8(module) : nullptr;
  if (m != nullptr && std::string_view(m) != "builtins") out.append(m).append(".");
  out.append(q ? q : t->tp_name);
  Py_XDECREF(qualname);
  Py_XDECREF(module);
  PyErr_Clear();
  return out;
}

class encoder {
 public:
  int encode(PyObject* v) {
    PyTypeObject* t = Py_TYPE(v);
    if (t == &PyLong_Type) return add_int(v);
    if (t == &PyUnicode_Type) return add_str(v);
    if (t == &PyFloat_Type) return add_float(PyFloat_AS_DOUBLE(v));
    if (v == Py_None) {
      b_.add_null();
      return 0;
    }
    if (t == &PyBool_Type) {
      b_.add_bool(v == Py_True);
      return 0;
    }
    if (t == &PyTuple_Type || t == &PyList_Type) return add_list(v);
    if (t == &PyDict_Type) return add_map(v);
    if (t == &PySet_Type || t == &PyFrozenSet_Type) return add_set(v);
    if (t == &PyBytes_Type || t == &PyByteArray_Type || t == &PyMemoryView_Type) {
      return add_bytes(v);
    }
    return encode_other(v);
  }

  std::string_view bytes() const { return b_.bytes(); }

 private:
  // Subclasses of the keyable types, numpy arrays and scalars; TypeError for the rest.
  int encode_other(PyObject* v) {
    if (PyLong_Check(v)) return add_int(v);
    if (PyFloat_Check(v)) return add_float(PyFloat_AsDouble(v));
    if (PyUnicode_Check(v)) return add_str(v);
    if (PyBytes_Check(v) || PyByteArray_Check(v)) return add_bytes(v);
    if (PyList_Check(v) || PyTuple_Check(v)) return add_list(v);
    if (PyDict_Check(v)) return add_map(v);
    if (PyAnySet_Check(v)) return add_set(v);
    const int numpy = add_numpy(v);
    if (numpy <= 0) return numpy;
    const int pandas = add_pandas(v);
    if (pandas <= 0) return pandas;
    PyErr_Format(PyExc_TypeError, "cannot build a key from a value of type '%s' %s",
                 type_name(v).c_str(), keyable_types);
    return -1;
  }

  int add_int(PyObject* v) {
    int overflow = 0;
    const long long small = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (small == -1 && PyErr_Occurred()) return -1;
    if (!overflow) {
      b_.add_int(small);
      return 0;
    }
    PyObject* magnitude = PyNumber_Absolute(v);
    if (magnitude == nullptr) return -1;
    const std::size_t bits = _PyLong_NumBits(magnitude);
    std::vector<std::uint8_t> be((bits + 7) / 8);
#if PY_VERSION_HEX >= 0x030D0000
    const int rc = _PyLong_AsByteArray(reinterpret_cast<PyLongObject*>(magnitude), be.data(),
                                       be.size(), /*little_endian=*/0, /*is_signed=*/0,
                                       /*with_exceptions=*/1);
#else
    const int rc = _PyLong_AsByteArray(reinterpret_cast<PyLongObject*>(magnitude), be.data(),
                                       be.size(), /*little_endian=*/0, /*is_signed=*/0);
#endif
    Py_DECREF(magnitude);
    if (rc < 0) return -1;
    b_.add_big_int(overflow < 0, be);
    return 0;
  }

  int add_float(double d) {
    if (d == -1.0 && PyErr_Occurred()) return -1;
    b_.add_float(d);
    return 0;
  }

  int add_str(PyObject* v) {
    Py_ssize_t n = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(v, &n);
    if (utf8 == nullptr) {
      // Lone surrogates: the same words as _keys.py.
      PyErr_Clear();
      const Py_ssize_t len = PyUnicode_GetLength(v);
      for (Py_ssize_t i = 0; i < len; ++i) {
        const Py_UCS4 c = PyUnicode_ReadChar(v, i);
        if (c >= 0xD800 && c <= 0xDFFF) {
          char msg[96];
          std::snprintf(msg, sizeof msg,
                        "key string must be valid Unicode (lone surrogate U+%04X at index %zd)",
                        static_cast<unsigned>(c), i);
          PyErr_SetString(PyExc_ValueError, msg);
          return -1;
        }
      }
      PyErr_SetString(PyExc_ValueError, "key string must be valid Unicode");
      return -1;
    }
    return check(b_.add_string(std::string_view(utf8, static_cast<std::size_t>(n))));
  }

  int add_bytes(PyObject* v) {
    Py_buffer view;
    if (PyObject_GetBuffer(v, &view, PyBUF_FULL_RO) < 0) return -1;
    int rc = 0;
    if (PyBuffer_IsContiguous(&view, 'C')) {
      b_.add_bytes(view.buf, static_cast<std::size_t>(view.len));
    } else {
      std::vector<char> copy(static_cast<std::size_t>(view.len));
      rc = PyBuffer_ToContiguous(copy.data(), &view, view.len, 'C');
      if (rc == 0) b_.add_bytes(copy.data(), copy.size());
    }
    PyBuffer_Release(&view);
    return rc;
  }

  int add_list(PyObject* v) {
    PyObject* seq = PySequence_Fast(v, "a list or tuple");
    if (seq == nullptr) return -1;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int rc = check(b_.begin_list(static_cast<std::size_t>(n)));
    for (Py_ssize_t i = 0; rc == 0 && i < n; ++i) rc = encode(PySequence_Fast_GET_ITEM(seq, i));
    Py_DECREF(seq);
    if (rc == 0) b_.end_list();
    return rc;
  }

  int add_map(PyObject* v) {
    int rc = check(b_.begin_map(static_cast<std::size_t>(PyDict_Size(v))));
    Py_ssize_t pos = 0;
    PyObject *k, *x;
    while (rc == 0 && PyDict_Next(v, &pos, &k, &x)) {
      Py_INCREF(k);
      Py_INCREF(x);
      rc = encode(k);
      if (rc == 0) rc = encode(x);
      Py_DECREF(k);
      Py_DECREF(x);
    }
    if (rc == 0) b_.end_map();
    return rc;
  }

  int add_set(PyObject* v) {
    int rc = check(b_.begin_set(static_cast<std::size_t>(PySet_Size(v))));
    PyObject* it = rc == 0 ? PyObject_GetIter(v) : nullptr;
    if (rc == 0 && it == nullptr) return -1;
    while (rc == 0) {
      PyObject* x = PyIter_Next(it);
      if (x == nullptr) {
        if (PyErr_Occurred()) rc = -1;
        break;
      }
      rc = encode(x);
      Py_DECREF(x);
    }
    Py_XDECREF(it);
    if (rc == 0) b_.end_set();
    return rc;
  }

  // numpy arrays and scalars: 0 done, -1 error, 1 not numpy (numpy is never imported here).
  int add_numpy(PyObject* v) {
    static PyObject* name = PyUnicode_InternFromString("numpy");  // module-lifetime constant
    PyObject* np = name ? PyImport_GetModule(name) : nullptr;
    if (np == nullptr) {
      PyErr_Clear();
      return 1;
    }
    int rc = 1;
    PyObject* ndarray = PyObject_GetAttrString(np, "ndarray");
    PyObject* generic = PyObject_GetAttrString(np, "generic");
    if (ndarray && PyObject_IsInstance(v, ndarray) == 1) {
      rc = add_ndarray(v);
    } else if (generic && PyObject_IsInstance(v, generic) == 1) {
      rc = add_numpy_scalar(np, v);
    }
    Py_XDECREF(ndarray);
    Py_XDECREF(generic);
    Py_DECREF(np);
    return rc;
  }

  int add_ndarray(PyObject* v) {
    PyObject* dtype = PyObject_GetAttrString(v, "dtype");
    if (dtype == nullptr) return -1;
    PyObject* hasobject = PyObject_GetAttrString(dtype, "hasobject");
    PyObject* fields = PyObject_GetAttrString(dtype, "fields");
    PyObject* subdtype = PyObject_GetAttrString(dtype, "subdtype");
    const bool bad = hasobject == nullptr || fields == nullptr || subdtype == nullptr ||
                     PyObject_IsTrue(hasobject) || fields != Py_None || subdtype != Py_None;
    Py_XDECREF(hasobject);
    Py_XDECREF(fields);
    Py_XDECREF(subdtype);
    if (bad) {
      if (!PyErr_Occurred()) {
        PyErr_Format(PyExc_TypeError,
                     "cannot build a key from a numpy array of dtype %R: object, structured and "
                     "sub-array dtypes have no canonical bytes",
                     dtype);
      }
      Py_DECREF(dtype);
      return -1;
    }
    Py_INCREF(v);
    PyObject* arr = v;
    PyObject* str = PyObject_GetAttrString(dtype, "str");
    if (str != nullptr && PyUnicode_READ_CHAR(str, 0) == '>') {  // canonical order: little-endian
      PyObject* little = PyObject_CallMethod(dtype, "newbyteorder", "s", "<");
      PyObject* converted = little ? PyObject_CallMethod(v, "astype", "O", little) : nullptr;
      Py_XDECREF(little);
      Py_DECREF(arr);
      arr = converted;
      Py_CLEAR(str);
      if (arr != nullptr) {
        PyObject* new_dtype = PyObject_GetAttrString(arr, "dtype");
        str = new_dtype ? PyObject_GetAttrString(new_dtype, "str") : nullptr;
        Py_XDECREF(new_dtype);
      }
    }
    Py_DECREF(dtype);
    PyObject* data = arr ? PyObject_CallMethod(arr, "tobytes", "s", "C") : nullptr;
    PyObject* shape = arr ? PyObject_GetAttrString(arr, "shape") : nullptr;
    int rc = -1;
    if (str != nullptr && data != nullptr && shape != nullptr) {
      std::vector<std::int64_t> dims;
      for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(shape); ++i) {
        dims.push_back(PyLong_AsLongLong(PyTuple_GET_ITEM(shape, i)));
      }
      Py_ssize_t dlen = 0;
      const char* d = PyUnicode_AsUTF8AndSize(str, &dlen);
      if (d != nullptr && !PyErr_Occurred()) {
        rc = check(b_.add_buffer(
            std::string_view(d, static_cast<std::size_t>(dlen)), dims,
            std::span<const std::byte>(reinterpret_cast<const std::byte*>(PyBytes_AS_STRING(data)),
                                       static_cast<std::size_t>(PyBytes_GET_SIZE(data)))));
      }
    }
    Py_XDECREF(str);
    Py_XDECREF(data);
    Py_XDECREF(shape);
    Py_XDECREF(arr);
    return rc;
  }

  // pandas objects: 0 done, -1 error, 1 not pandas. twincache._keys.pandas_parts is the one
  // definition of the list a Series, DataFrame or Index is keyed as (docs/keys.md); it is called
  // here (it imports pandas only for a value whose type comes from pandas) and its result is
  // encoded by this encoder, so both modes give the same bytes. The builder is this call's own
  // and no core lock exists on this path, so the Python code it runs may use any cache, even
  // re-enter encode_key.
  int add_pandas(PyObject* v) {
    static PyObject* parts_fn = nullptr;  // module-lifetime constant
    if (parts_fn == nullptr) {
      PyObject* keys = PyImport_ImportModule("twincache._keys");
      if (keys == nullptr) return -1;
      parts_fn = PyObject_GetAttrString(keys, "pandas_parts");
      Py_DECREF(keys);
      if (parts_fn == nullptr) return -1;
    }
    PyObject* parts = PyObject_CallOneArg(parts_fn, v);
    if (parts == nullptr) return -1;
    int rc = 1;
    if (parts != Py_None) rc = encode(parts);
    Py_DECREF(parts);
    return rc;
  }

  // numpy scalars as the Python value they equal.
  int add_numpy_scalar(PyObject* np, PyObject* v) {
    const char* kinds[] = {"bool_", "integer", "floating"};
    for (int k = 0; k < 3; ++k) {
      PyObject* type = PyObject_GetAttrString(np, kinds[k]);
      const int is = type ? PyObject_IsInstance(v, type) : -1;
      Py_XDECREF(type);
      if (is < 0) return -1;
      if (!is) continue;
      if (k == 0) {
        const int truth = PyObject_IsTrue(v);
        if (truth < 0) return -1;
        b_.add_bool(truth != 0);
        return 0;
      }
      PyObject* plain = k == 1 ? PyNumber_Index(v) : PyNumber_Float(v);
      if (plain == nullptr) return -1;
      const int rc = k == 1 ? add_int(plain) : add_float(PyFloat_AsDouble(plain));
      Py_DECREF(plain);
      return rc;
    }
    return 1;
  }

  static int check(const status& st) {
    if (st.ok()) return 0;
    raise_status(st);
    return -1;
  }

  key_builder b_;
};

PyObject* encode_key(PyObject*, PyObject* value) {
  encoder e;
  if (e.encode(value) < 0) return nullptr;
  const std::string_view out = e.bytes();
  return PyBytes_FromStringAndSize(out.data(), static_cast<Py_ssize_t>(out.size()));
}

PyMethodDef encode_key_def = {"encode_key", encode_key, METH_O,
                              "The canonical key encoding of value (docs/keys.md), as bytes."};

}  // namespace

PyObject* new_encode_key_function(PyObject* module) {
  return PyCFunction_NewEx(&encode_key_def, nullptr, module);
}

}  // namespace twincache::python
