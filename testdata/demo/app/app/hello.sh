#!/bin/sh
echo "hello from the tcrane demo image"
